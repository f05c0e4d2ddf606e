"""The public's services (issue 13): 有条件开放 applications and their grants, API keys' quotas and usage."""
