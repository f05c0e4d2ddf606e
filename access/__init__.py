"""Access: who may do what (DESIGN.md). Today the open-type policy (``access.policy``); accounts, roles and
grants come with later issues."""
