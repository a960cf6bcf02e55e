"""The API's endpoints, one module per resource. Each view scopes its queries to the acting
team (another team's object is a 404), checks permission, calls one domain function."""
