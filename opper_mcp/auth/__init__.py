"""Inbound identity over HTTP: named bearer tokens (named_tokens) and an OAuth 2.1 resource server
(resource_server, built from issuer, jwt_access, introspection, scopes and identity)."""
