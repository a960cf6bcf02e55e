"""Teams: which team a request acts for, roles, membership pages."""
