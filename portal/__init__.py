"""The web portal (SPEC 5): a thin Bottle face over maild's domain operations."""
