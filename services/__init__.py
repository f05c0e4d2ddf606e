"""The public's services (issue 13): usage counts, ratings and moderated comments, 有条件开放 applications and
their grants, API keys' quotas and usage.

May use: access, publish, sparql, manage (working days), core, config (docs/architecture.md). Nothing here imports
server/.
"""
