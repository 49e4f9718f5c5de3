"""Our own rules over the Bicep parse tree (pycep-parser), for what checkov cannot see.

checkov checks plain resources only; most of ours are Azure Verified Modules (``br/public:avm/res/...``), whose
parameters it never reads, and it misses keys leaked through ``listKeys()`` in outputs. These rules read both
shapes: a plain resource's ``properties`` and an AVM module's ``params`` (the two use the same property names for
what we check, except where noted).

Each rule takes a :class:`Template` and returns a :class:`Result`: its findings, and how many subjects (resources,
modules, settings, outputs) it examined, so a test can tell a rule that passed from a rule that saw nothing.

pycep writes an identifier and a string literal alike (``name: foo`` and ``name: 'foo'`` are both ``"foo"``);
the rules resolve a string that names a variable to the variable's value, and treat one that names a parameter as
that parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycep import BicepParser

__all__ = ["RULES", "Finding", "Result", "Template", "parse_file", "parse_text"]

_PARSER: BicepParser | None = None


def _parser() -> BicepParser:
    global _PARSER
    if _PARSER is None:
        _PARSER = BicepParser()
    return _PARSER


@dataclass(frozen=True)
class Deployable:
    """A resource (not ``existing``) or a module call: ``kind`` is the resource type or the module's path."""

    name: str
    kind: str
    body: dict[
        str, Any
    ]  # a resource's ``properties`` (plus ``identity`` on ``body["@identity"]``) or a module's params


@dataclass(frozen=True)
class Template:
    path: str
    tree: dict[str, Any]

    def section(self, name: str) -> dict[str, Any]:
        return self.tree.get(name) or {}

    @property
    def secure_parameters(self) -> set[str]:
        return {
            name
            for name, param in self.section("parameters").items()
            if any(d.get("type") == "secure" for d in param.get("decorators") or [])
        }

    def resolve(self, value: Any, depth: int = 0) -> Any:
        """``value``, or the value of the variable it names (pycep writes identifiers as plain strings)."""
        variables = self.section("variables")
        while isinstance(value, str) and value in variables and depth < 10:
            value = variables[value].get("value")
            depth += 1
        return value

    def deployables(self) -> Iterator[Deployable]:
        for name, resource in self.section("resources").items():
            if resource.get("existing"):
                continue
            config = _unwrap(resource.get("config") or {})
            body = dict(config.get("properties") or {})
            body["@identity"] = config.get("identity")
            body["@name"] = config.get("name")
            yield Deployable(name, str(resource.get("type")), body)
        for name, module in self.section("modules").items():
            config = _unwrap(module.get("config") or {})
            detail = module.get("detail") or {}
            yield Deployable(name, str(detail.get("path", "")), dict(config.get("params") or {}))


def _unwrap(config: dict[str, Any]) -> dict[str, Any]:
    """The body of a conditional (``if``) or looped (``for``) resource or module."""
    while isinstance(config.get("config"), dict) and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return config


def parse_text(text: str, path: str = "<text>") -> Template:
    return Template(path, _parser().parse(text=text))


def parse_file(path: Path) -> Template:
    return Template(str(path), _parser().parse(file_path=path))


@dataclass(frozen=True)
class Finding:
    rule: str
    path: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.where}: {self.message} [{self.rule}]"


@dataclass
class Result:
    findings: list[Finding] = field(default_factory=list)
    checked: int = 0


def render(node: Any) -> str:
    """An expression as approximate Bicep text (enough to search for calls and references)."""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "[" + " ".join(render(item) for item in node) + "]"
    if not isinstance(node, dict):
        return repr(node)
    if "operator" in node:
        operator = node["operator"]
        kind, operands = operator.get("type"), operator.get("operands") or {}
        if kind == "property_accessor":
            return f"{render(operands.get('operand_1'))}.{render(operands.get('operand_2'))}"
        if kind == "function_accessor":
            return f"{render(operands.get('operand_1'))}.{operands.get('func_name')}()"
        if kind == "index_accessor":
            return f"{render(operands.get('operand_1'))}[{render(operands.get('operand_2'))}]"
        return f"{kind}(" + ", ".join(render(value) for value in operands.values()) + ")"
    if "function" in node:
        function = node["function"]
        arguments = (function.get("parameters") or {}).values()
        return f"{function.get('type')}(" + ", ".join(render(value) for value in arguments) + ")"
    return "{" + " ".join(f"{key}: {render(value)}" for key, value in node.items()) + "}"


def _walk(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Every value under ``node`` with its path (dict keys, list indexes)."""
    yield where, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{where}[{index}]")


def _get(node: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


_LIST_CALL = re.compile(r"\blist[A-Za-z]*\(", re.IGNORECASE)
_SECRET_NAME = re.compile(r"(key|keys|secret|secrets|password|connectionstring|connectionstrings|token|sas)$", re.I)
_SECRET_SETTING = re.compile(
    r"((^|_)(KEY|SECRET|PASSWORD|CONNECTION_?STRING)$)|^AzureWebJobsStorage$|^AzureWebJobsDashboard$", re.IGNORECASE
)
_KEY_VAULT_REFERENCE = re.compile(r"^@Microsoft\.KeyVault\((SecretUri=|VaultName=)")
_LITERAL_KEY = re.compile(r"(AccountKey|SharedAccessKey|AccessKey)=", re.IGNORECASE)

SITES = {"Microsoft.Web/sites", "avm/res/web/site"}
APPS = SITES | {"Microsoft.App/jobs", "avm/res/app/job", "Microsoft.App/containerApps", "avm/res/app/container-app"}
STORAGE = {"Microsoft.Storage/storageAccounts", "avm/res/storage/storage-account"}
COSMOS = {"Microsoft.DocumentDB/databaseAccounts", "avm/res/document-db/database-account"}
EVENT_SUBSCRIPTIONS = {"Microsoft.EventGrid/systemTopics/eventSubscriptions", "Microsoft.EventGrid/eventSubscriptions"}


def _finding(rule: Callable[..., Result], template: Template, where: str, message: str) -> Finding:
    return Finding(rule.__name__, template.path, where, message)


def no_secrets_in_outputs(template: Template) -> Result:
    """No output is secure, secret-named, a ``list*()`` call (listKeys, listConnectionStrings, ...), a secure
    parameter, or a module's secret-named output."""
    result = Result()
    secure = template.secure_parameters
    for name, output in template.section("outputs").items():
        result.checked += 1
        where = f"output {name}"
        text = render(output.get("value"))
        if any(d.get("type") == "secure" for d in output.get("decorators") or []):
            result.findings.append(_finding(no_secrets_in_outputs, template, where, "a @secure() output"))
        if _SECRET_NAME.search(name):
            result.findings.append(_finding(no_secrets_in_outputs, template, where, "its name says it holds a secret"))
        if _LIST_CALL.search(text):
            result.findings.append(_finding(no_secrets_in_outputs, template, where, f"a list*() call: {text}"))
        if re.search(r"\.outputs\.\w*(key|secret|password|connectionstring)", text, re.IGNORECASE):
            result.findings.append(_finding(no_secrets_in_outputs, template, where, f"a secret module output: {text}"))
        for param in secure:
            if re.search(rf"(^|[^\w.]){re.escape(param)}\b", text):
                result.findings.append(
                    _finding(no_secrets_in_outputs, template, where, f"the secure parameter {param}")
                )
    return result


def https_only(template: Template) -> Result:
    """Sites set ``httpsOnly: true``, storage accounts ``supportsHttpsTrafficOnly: true``, webhooks use https."""
    result = Result()
    for item in template.deployables():
        if item.kind in SITES:
            result.checked += 1
            if item.body.get("httpsOnly") is not True:
                result.findings.append(_finding(https_only, template, item.name, "httpsOnly is not true"))
        elif item.kind in STORAGE:
            result.checked += 1
            if item.body.get("supportsHttpsTrafficOnly") is not True:
                message = "supportsHttpsTrafficOnly is not true"
                result.findings.append(_finding(https_only, template, item.name, message))
        elif item.kind in EVENT_SUBSCRIPTIONS:
            result.checked += 1
            url = str(template.resolve(_get(item.body, "destination", "properties", "endpointUrl")) or "")
            if _get(item.body, "destination", "endpointType") == "WebHook" and not url.startswith("https://"):
                result.findings.append(_finding(https_only, template, item.name, f"webhook is not https: {url}"))
    return result


def tls_1_2(template: Template) -> Result:
    """Sites, storage accounts and Cosmos DB accounts require TLS 1.2 or newer, explicitly."""
    result = Result()
    for item in template.deployables():
        if item.kind in SITES:
            setting, allowed = ("siteConfig", "minTlsVersion"), {"1.2", "1.3"}
        elif item.kind in STORAGE:
            setting, allowed = ("minimumTlsVersion",), {"TLS1_2", "TLS1_3"}
        elif item.kind == "Microsoft.DocumentDB/databaseAccounts":
            setting, allowed = ("minimalTlsVersion",), {"Tls12", "Tls13"}
        elif item.kind in COSMOS:
            setting, allowed = ("minimumTlsVersion",), {"Tls12", "Tls13"}
        else:
            continue
        result.checked += 1
        value = template.resolve(_get(item.body, *setting))
        if value not in allowed:
            message = f"{'.'.join(setting)} is {value!r}, not one of {sorted(allowed)}"
            result.findings.append(_finding(tls_1_2, template, item.name, message))
    return result


def no_public_blob_access(template: Template) -> Result:
    """Storage accounts set ``allowBlobPublicAccess: false``; no blob container is public."""
    result = Result()
    for item in template.deployables():
        if item.kind in STORAGE:
            result.checked += 1
            if item.body.get("allowBlobPublicAccess") is not False:
                message = "allowBlobPublicAccess is not false"
                result.findings.append(_finding(no_public_blob_access, template, item.name, message))
            containers = _get(item.body, "blobServices", "containers") or []
        elif item.kind == "Microsoft.Storage/storageAccounts/blobServices/containers":
            containers = [item.body]
        else:
            continue
        for container in containers if isinstance(containers, list) else []:
            result.checked += 1
            access = template.resolve(container.get("publicAccess")) if isinstance(container, dict) else None
            if access not in (None, "None"):
                name = container.get("name") or container.get("@name")
                message = f"container {name} has publicAccess {access!r}"
                result.findings.append(_finding(no_public_blob_access, template, item.name, message))
    return result


def managed_identity_on_apps(template: Template) -> Result:
    """Every function app, container app and Container Apps job has a managed identity."""
    result = Result()
    for item in template.deployables():
        if item.kind not in APPS:
            continue
        result.checked += 1
        if item.kind.startswith("avm/"):
            identities = item.body.get("managedIdentities") or {}
            user = identities.get("userAssignedResourceIds") if isinstance(identities, dict) else None
            system = identities.get("systemAssigned") if isinstance(identities, dict) else None
            ok = system is True or (isinstance(user, list) and len(user) > 0)
        else:
            kind = str(_get(item.body, "@identity", "type") or "")
            ok = "SystemAssigned" in kind or "UserAssigned" in kind
        if not ok:
            result.findings.append(_finding(managed_identity_on_apps, template, item.name, "no managed identity"))
    return result


def _settings(template: Template) -> Iterator[tuple[str, str, Any]]:
    """Every (where, name, value) of a setting-like entry: object keys and ``{name, value}`` pairs, in resources,
    modules and variables (values resolved through variables)."""
    roots = [(f"{d.kind} {d.name}", d.body) for d in template.deployables()]
    roots += [(f"var {name}", var.get("value")) for name, var in template.section("variables").items()]
    for root, body in roots:
        for where, node in _walk(body, root):
            if not isinstance(node, dict):
                continue
            if isinstance(node.get("name"), str) and ("value" in node or "secretRef" in node):
                value = node.get("value") if "value" in node else {"secretRef": node["secretRef"]}
                yield where, node["name"], template.resolve(value)
            for key, value in node.items():
                if key not in ("name", "value"):
                    yield f"{where}.{key}", key, template.resolve(value)


def keys_through_key_vault(template: Template) -> Result:
    """A key, secret, password or connection string setting (``*_KEY``, ``AzureWebJobsStorage``, ...) is a Key Vault
    reference (``@Microsoft.KeyVault(SecretUri=...)``) or a container secret reference; never a literal, a parameter
    or a ``list*()`` call. No value anywhere carries an account key."""
    result = Result()
    parameters = template.section("parameters")
    for where, name, value in _settings(template):
        if isinstance(value, str) and _LITERAL_KEY.search(value):
            result.findings.append(_finding(keys_through_key_vault, template, where, "an account key in a value"))
        if not _SECRET_SETTING.search(name):
            continue
        result.checked += 1
        if isinstance(value, dict) and set(value) == {"secretRef"}:
            continue
        if isinstance(value, str) and _KEY_VAULT_REFERENCE.match(value):
            continue
        if isinstance(value, str) and value in parameters:
            what = f"the parameter {value}"
        elif isinstance(value, str):
            what = "a literal"
        else:
            what = render(value)
        message = f"{name} is {what}, not a Key Vault reference"
        result.findings.append(_finding(keys_through_key_vault, template, where, message))
    return result


def cosmos_local_auth_disabled(template: Template) -> Result:
    """Cosmos DB accounts disable key (local) authentication explicitly."""
    result = Result()
    for item in template.deployables():
        if item.kind == "Microsoft.DocumentDB/databaseAccounts":
            setting = "disableLocalAuth"
        elif item.kind in COSMOS:
            setting = "disableLocalAuthentication"
        else:
            continue
        result.checked += 1
        if item.body.get(setting) is not True:
            message = f"{setting} is not true"
            result.findings.append(_finding(cosmos_local_auth_disabled, template, item.name, message))
    return result


RULES: tuple[Callable[[Template], Result], ...] = (
    no_secrets_in_outputs,
    https_only,
    tls_1_2,
    no_public_blob_access,
    managed_identity_on_apps,
    keys_through_key_vault,
    cosmos_local_auth_disabled,
)
