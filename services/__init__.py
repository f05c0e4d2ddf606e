"""The public's services: usage counts, ratings and comments (more of issue 13 lands here).

May use: access, publish, sparql, core, config (docs/architecture.md). Nothing here imports server/.
"""
