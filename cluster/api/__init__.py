"""The API server: the only writer of the store, and the facade real clients speak to."""
