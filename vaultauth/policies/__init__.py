"""The Vault policies of vaultauth, rendered from the HCL templates shipped beside this module.

`vaultauth-facade.hcl`: what the facade needs on its mount and prefix. `vaultauth-reconcile.hcl`:
what `vaultauth reconcile` needs (listing is there, not in the facade's). `vaultauth-consumer.hcl`:
read-only access for one service to chosen integrations of one tenant. Every value put into a
path is validated like an id first, so none can widen a grant (`*`, `+`, `/`, `..` are refused).
"""

from __future__ import annotations

from importlib.resources import files

from vaultauth.errors import InvalidInput
from vaultauth.ids import validate_path_segment

FACADE_TEMPLATE = "vaultauth-facade.hcl"
RECONCILE_TEMPLATE = "vaultauth-reconcile.hcl"
CONSUMER_TEMPLATE = "vaultauth-consumer.hcl"
TEMPLATES = (FACADE_TEMPLATE, RECONCILE_TEMPLATE, CONSUMER_TEMPLATE)


def template(name: str) -> str:
    """The raw text of a shipped template."""
    if name not in TEMPLATES:
        raise InvalidInput(f"no policy template named {name}", code="invalid_policy")
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def _segments(value: str, field: str) -> str:
    value = value.strip("/")
    for segment in value.split("/"):
        validate_path_segment(segment, field)
    return value


def _fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace(f"<{name}>", value)
    return text


def _split(text: str) -> tuple[str, str]:
    """(header comments, path blocks) of a template, without its `#!` notes."""
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith("#!")]
    first = next(i for i, line in enumerate(lines) if line.startswith("path "))
    # Keep the comment lines right above the first path block with the blocks.
    while first > 0 and lines[first - 1].startswith("#"):
        first -= 1
    return "".join(lines[:first]), "".join(lines[first:])


def _render_for_prefix(name: str, mount: str, prefix: str) -> str:
    values = {
        "mount": _segments(mount, "mount"),
        "prefix": _segments(prefix, "prefix"),
    }
    header, blocks = _split(template(name))
    return _fill(header + blocks, values)


def render_facade(*, mount: str = "secret", prefix: str = "vaultauth") -> str:
    """The facade's policy for KV v2 `mount` and the facade's VAULTAUTH_VAULT_PREFIX."""
    return _render_for_prefix(FACADE_TEMPLATE, mount, prefix)


def render_reconcile(*, mount: str = "secret", prefix: str = "vaultauth") -> str:
    """`vaultauth reconcile`'s policy for KV v2 `mount` and VAULTAUTH_VAULT_PREFIX."""
    return _render_for_prefix(RECONCILE_TEMPLATE, mount, prefix)


def render_consumer(
    *,
    tenant: str,
    integrations: list[str],
    mount: str = "secret",
    prefix: str = "vaultauth",
) -> str:
    """A consumer's policy: read the credentials of `integrations` of `tenant`, nothing else."""
    chosen = list(dict.fromkeys(validate_path_segment(i, "integration") for i in integrations))
    if not chosen:
        raise InvalidInput("name at least one --integration", code="missing_integration")
    values = {
        "mount": _segments(mount, "mount"),
        "prefix": _segments(prefix, "prefix"),
        "tenant": validate_path_segment(tenant, "tenant"),
    }
    header, block = _split(template(CONSUMER_TEMPLATE))
    rendered = _fill(header, {**values, "integration": ", ".join(chosen)})
    return rendered + "\n".join(
        _fill(block, {**values, "integration": integration}) for integration in chosen
    )
