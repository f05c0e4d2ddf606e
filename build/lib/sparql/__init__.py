"""The catalogue store, the SPARQL 1.1 Protocol endpoint logic and saved queries."""
