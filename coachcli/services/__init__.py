"""The rules of the product: plain functions over a database session.

Services never commit; the caller owns the transaction. They raise
`coachcli.errors.CoachError` for anything refused.
"""
