"""The management center's state and rules: submissions (报送) and their review, work days, work orders, trends."""
