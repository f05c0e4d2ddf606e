"""The web application, the command line and the portal."""
