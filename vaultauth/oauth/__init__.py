"""Managed OAuth 2.0 credentials: the facade obtains and refreshes access tokens itself.

- `token_url`: which token endpoints the deployment lets the facade call (the SSRF rule).
- `endpoint`: one token request (RFC 6749 §4.4 and §6) over HTTP, bounded and redirect-free.
- `state`: the token document kept in Vault beside the record's secret.
- `broker`: one token request per expiry per record, across every process and replica.
"""
