"""What callers may ask for: a Create/Update (or Filter) class per entity, its constraints
declared once on the fields (types from `classbridge.models.fields`).

Build them with `classbridge.models.validation.parse` from outside data (graph/ converts
GraphQL inputs in one place, graph/inputs.py); domain operations take them typed.
"""
