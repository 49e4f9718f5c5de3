"""The Bicep templates under infra/bicep: each parses, each of our rules holds on them, and each rule flags a small
bad template (so none can pass by seeing nothing); the templates name what shared/settings.py reads."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.settings import Settings
from shared.stores.azure import cosmos_metadata
from tests.infra.bicep_rules import RULES, Result, Template, parse_file, parse_text, render

BICEP = Path(__file__).resolve().parents[2] / "infra" / "bicep"
FILES = sorted(BICEP.rglob("*.bicep"))
Rule = Callable[[Template], Result]


@pytest.fixture(scope="module")
def templates() -> dict[str, Template]:
    return {str(path.relative_to(BICEP)): parse_file(path) for path in FILES}


def test_the_templates_are_there() -> None:
    names = {str(path.relative_to(BICEP)) for path in FILES}
    assert {"main.bicep", "drop-folder-events.bicep", "app/function-app.bicep"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(BICEP)))
def test_every_file_parses(path: Path) -> None:
    tree = parse_file(path).tree
    assert tree.get("resources") or tree.get("modules")


def test_the_parser_refuses_a_broken_file() -> None:
    with pytest.raises(Exception):  # noqa: B017 - lark's or pycep's own error, whichever comes first
        parse_text("resource st 'Microsoft.Storage/storageAccounts@2025-01-01' = {\n  name: 'x'\n")


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_rule_holds_on_the_templates(rule: Rule, templates: dict[str, Template]) -> None:
    results = [rule(template) for template in templates.values()]
    findings = [str(finding) for result in results for finding in result.findings]
    assert not findings, "\n".join(findings)
    assert sum(result.checked for result in results) >= MIN_CHECKED[rule.__name__], "the rule saw too little"


# What each rule must at least examine in infra/bicep (so a rule that stops finding its subjects fails).
MIN_CHECKED = {
    "no_secrets_in_outputs": 10,  # main.bicep's outputs and the modules'
    "https_only": 4,  # the site module, two storage accounts, the Event Grid webhook
    "tls_1_2": 4,  # the site module, two storage accounts, Cosmos DB
    "no_public_blob_access": 8,  # two storage accounts and their six containers
    "managed_identity_on_apps": 2,  # the site module (both apps) and the job
    "keys_through_key_vault": 3,  # the two keys in app settings and the job's key
    "cosmos_local_auth_disabled": 1,
}

# One small bad template per rule, and the same template made good: the rule must flag the first and pass the second.
BAD_AND_GOOD: dict[str, tuple[str, str]] = {
    "no_secrets_in_outputs": (
        """
        @secure()
        param adminKey string
        resource st 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
          name: 'st'
        }
        module db 'br/public:avm/res/document-db/database-account:0.20.1' = {
          name: 'db'
          params: {
            name: 'db'
          }
        }
        output storageKey string = st.listKeys().keys[0].value
        output connection string = 'AccountName=st;AccountKey=${st.listKeys().keys[0].value}'
        output cosmosKey string = db.outputs.primaryReadWriteKey
        output conn string = listConnectionStrings(st.id, '2025-01-01').connectionStrings[0].connectionString
        output admin string = 'k=${adminKey}'
        @secure()
        output hidden string = 'x'
        """,
        """
        @secure()
        param adminKey string
        resource st 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
          name: 'st'
        }
        output storageName string = st.name
        output keyVaultName string = 'kv'
        output blobEndpoint string = st.properties.primaryEndpoints.blob
        """,
    ),
    "https_only": (
        """
        resource site 'Microsoft.Web/sites@2024-04-01' = {
          name: 'app'
          identity: {
            type: 'SystemAssigned'
          }
          properties: {
            httpsOnly: false
          }
        }
        module st 'br/public:avm/res/storage/storage-account:0.33.0' = {
          name: 'st'
          params: {
            name: 'st'
            supportsHttpsTrafficOnly: false
          }
        }
        resource sub 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
          name: 'topic/sub'
          properties: {
            destination: {
              endpointType: 'WebHook'
              properties: {
                endpointUrl: 'http://example.org/hook'
              }
            }
          }
        }
        """,
        """
        resource site 'Microsoft.Web/sites@2024-04-01' = {
          name: 'app'
          properties: {
            httpsOnly: true
          }
        }
        module st 'br/public:avm/res/storage/storage-account:0.33.0' = {
          name: 'st'
          params: {
            name: 'st'
            supportsHttpsTrafficOnly: true
          }
        }
        resource sub 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
          name: 'topic/sub'
          properties: {
            destination: {
              endpointType: 'WebHook'
              properties: {
                endpointUrl: 'https://example.org/hook'
              }
            }
          }
        }
        """,
    ),
    "tls_1_2": (
        """
        resource st 'Microsoft.Storage/storageAccounts@2025-01-01' = {
          name: 'st'
          properties: {
            minimumTlsVersion: 'TLS1_0'
          }
        }
        module site 'br/public:avm/res/web/site:0.24.0' = {
          name: 'site'
          params: {
            name: 'app'
            siteConfig: {
              minTlsVersion: '1.0'
            }
          }
        }
        resource db 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
          name: 'db'
          properties: {
            disableLocalAuth: true
          }
        }
        """,
        """
        resource st 'Microsoft.Storage/storageAccounts@2025-01-01' = {
          name: 'st'
          properties: {
            minimumTlsVersion: 'TLS1_2'
          }
        }
        module site 'br/public:avm/res/web/site:0.24.0' = {
          name: 'site'
          params: {
            name: 'app'
            siteConfig: {
              minTlsVersion: '1.2'
            }
          }
        }
        resource db 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
          name: 'db'
          properties: {
            minimalTlsVersion: 'Tls12'
          }
        }
        """,
    ),
    "no_public_blob_access": (
        """
        module st 'br/public:avm/res/storage/storage-account:0.33.0' = {
          name: 'st'
          params: {
            name: 'st'
            allowBlobPublicAccess: false
            blobServices: {
              containers: [
                {
                  name: 'images'
                  publicAccess: 'Blob'
                }
              ]
            }
          }
        }
        resource other 'Microsoft.Storage/storageAccounts@2025-01-01' = {
          name: 'other'
          properties: {
            allowBlobPublicAccess: true
          }
        }
        """,
        """
        module st 'br/public:avm/res/storage/storage-account:0.33.0' = {
          name: 'st'
          params: {
            name: 'st'
            allowBlobPublicAccess: false
            blobServices: {
              containers: [
                {
                  name: 'images'
                  publicAccess: 'None'
                }
              ]
            }
          }
        }
        resource other 'Microsoft.Storage/storageAccounts@2025-01-01' = {
          name: 'other'
          properties: {
            allowBlobPublicAccess: false
          }
        }
        """,
    ),
    "managed_identity_on_apps": (
        """
        module site 'br/public:avm/res/web/site:0.24.0' = {
          name: 'site'
          params: {
            name: 'app'
            managedIdentities: {
              userAssignedResourceIds: []
            }
          }
        }
        resource job 'Microsoft.App/jobs@2025-01-01' = {
          name: 'job'
          properties: {
            configuration: {
              triggerType: 'Manual'
            }
          }
        }
        """,
        """
        module site 'br/public:avm/res/web/site:0.24.0' = {
          name: 'site'
          params: {
            name: 'app'
            managedIdentities: {
              userAssignedResourceIds: [
                'id'
              ]
            }
          }
        }
        resource job 'Microsoft.App/jobs@2025-01-01' = {
          name: 'job'
          identity: {
            type: 'SystemAssigned'
          }
          properties: {
            configuration: {
              triggerType: 'Manual'
            }
          }
        }
        """,
    ),
    "keys_through_key_vault": (
        """
        @secure()
        param trainingKey string
        resource st 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
          name: 'st'
        }
        var shared = {
          CVSTUDIO_PREDICTION_KEY: 'a-literal-key-in-the-template'
        }
        module site 'br/public:avm/res/web/site:0.24.0' = {
          name: 'site'
          params: {
            name: 'app'
            configs: [
              {
                name: 'appsettings'
                properties: union(shared, {
                  CVSTUDIO_TRAINING_KEY: trainingKey
                  AzureWebJobsStorage: 'AccountName=st;AccountKey=${st.listKeys().keys[0].value}'
                })
              }
            ]
          }
        }
        resource job 'Microsoft.App/jobs@2025-01-01' = {
          name: 'job'
          properties: {
            template: {
              containers: [
                {
                  name: 'trainer'
                  env: [
                    {
                      name: 'CVSTUDIO_TRAINING_KEY'
                      value: trainingKey
                    }
                  ]
                }
              ]
            }
          }
        }
        """,
        """
        var trainingKeyReference = '@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/training-key)'
        module site 'br/public:avm/res/web/site:0.24.0' = {
          name: 'site'
          params: {
            name: 'app'
            configs: [
              {
                name: 'appsettings'
                properties: {
                  CVSTUDIO_TRAINING_KEY: trainingKeyReference
                  CVSTUDIO_PREDICTION_KEY: '@Microsoft.KeyVault(VaultName=kv;SecretName=prediction-key)'
                  AzureWebJobsStorage__credential: 'managedidentity'
                }
              }
            ]
          }
        }
        resource job 'Microsoft.App/jobs@2025-01-01' = {
          name: 'job'
          properties: {
            template: {
              containers: [
                {
                  name: 'trainer'
                  env: [
                    {
                      name: 'CVSTUDIO_TRAINING_KEY'
                      secretRef: 'training-key'
                    }
                  ]
                }
              ]
            }
          }
        }
        """,
    ),
    "cosmos_local_auth_disabled": (
        """
        module db 'br/public:avm/res/document-db/database-account:0.20.1' = {
          name: 'db'
          params: {
            name: 'db'
            disableLocalAuthentication: false
          }
        }
        resource raw 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
          name: 'raw'
          properties: {
            databaseAccountOfferType: 'Standard'
          }
        }
        """,
        """
        module db 'br/public:avm/res/document-db/database-account:0.20.1' = {
          name: 'db'
          params: {
            name: 'db'
            disableLocalAuthentication: true
          }
        }
        resource raw 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
          name: 'raw'
          properties: {
            disableLocalAuth: true
          }
        }
        """,
    ),
}

# How many findings each bad template must give (every bad thing in it is caught, not just the first).
BAD_FINDINGS = {
    "no_secrets_in_outputs": 6,
    "https_only": 3,
    "tls_1_2": 3,
    "no_public_blob_access": 2,
    "managed_identity_on_apps": 2,
    "keys_through_key_vault": 4,
    "cosmos_local_auth_disabled": 2,
}


def _dedent(text: str) -> str:
    lines = text.strip("\n").splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines) + "\n"


def test_every_rule_has_a_bad_template() -> None:
    assert set(BAD_AND_GOOD) == set(BAD_FINDINGS) == {rule.__name__ for rule in RULES} == set(MIN_CHECKED)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_rule_flags_its_bad_template(rule: Rule) -> None:
    bad, good = BAD_AND_GOOD[rule.__name__]
    flagged = rule(parse_text(_dedent(bad), "bad.bicep")).findings
    assert len({(f.where, f.message) for f in flagged}) >= BAD_FINDINGS[rule.__name__], [str(f) for f in flagged]
    passed = rule(parse_text(_dedent(good), "good.bicep"))
    assert not passed.findings, [str(f) for f in passed.findings]
    assert passed.checked > 0


# --- what the templates give the apps, against what the product reads ---------------------------------------------


def _app_settings(template: Template, module: str) -> dict[str, Any]:
    """A function-app module's appSettings in main.bicep: union(storeSettings, {...}) resolved."""
    value = template.section("modules")[module]["config"]["params"]["appSettings"]
    merged: dict[str, Any] = {}
    for part in value["function"]["parameters"].values():
        part = template.resolve(part)
        assert isinstance(part, dict), render(part)
        merged.update(part)
    return merged


def _known_setting(name: str) -> bool:
    aliases = {"CVSTUDIO_STORAGE__blobServiceUri", "CVSTUDIO_STORAGE__queueServiceUri"}
    # Read by the Functions host for the triggers' connection "CVSTUDIO_STORAGE", not by Settings.
    host_only = {"CVSTUDIO_STORAGE__credential", "CVSTUDIO_STORAGE__clientId"}
    field = name.removeprefix("CVSTUDIO_").lower()
    return name in aliases or name in host_only or field in Settings.model_fields


def test_each_app_gets_its_role_and_only_its_own_key(templates: dict[str, Template]) -> None:
    main = templates["main.bicep"]
    training, prediction = _app_settings(main, "trainingApp"), _app_settings(main, "predictionApp")
    assert training["CVSTUDIO_ROLE"] == "training" and prediction["CVSTUDIO_ROLE"] == "prediction"
    assert "CVSTUDIO_TRAINING_KEY" in training and "CVSTUDIO_PREDICTION_KEY" not in training
    assert "CVSTUDIO_PREDICTION_KEY" in prediction and "CVSTUDIO_TRAINING_KEY" not in prediction
    assert training["CVSTUDIO_TRAINING_RUNNER"] == "container-apps" and "CVSTUDIO_TRAINING_JOB_ID" in training
    assert "CVSTUDIO_TRAINING_JOB_ID" not in prediction
    for settings in (training, prediction):
        unknown = [name for name in settings if name.startswith("CVSTUDIO_") and not _known_setting(name)]
        assert not unknown, f"settings that shared/settings.py does not read: {unknown}"
        assert settings["CVSTUDIO_STORAGE__credential"] == "managedidentity"
        assert {"CVSTUDIO_STORAGE__blobServiceUri", "CVSTUDIO_STORAGE__queueServiceUri"} <= set(settings)
        assert {"CVSTUDIO_COSMOS_ENDPOINT", "CVSTUDIO_STORAGE__clientId"} <= set(settings)
        assert "CVSTUDIO_COSMOS_KEY" not in settings


def test_names_match_the_product_defaults(templates: dict[str, Template]) -> None:
    main = templates["main.bicep"]
    fields = Settings.model_fields
    assert main.resolve("cosmosDatabaseName") == fields["cosmos_database"].default
    assert main.resolve("trainingQueueName") == fields["training_queue"].default
    assert main.resolve("containerPrefix") == fields["storage_container_prefix"].default
    assert main.resolve("dropContainerName") == fields["drop_container"].default
    assert main.resolve("cosmosContainerName") == "documents"
    container_default = inspect.signature(cosmos_metadata.CosmosMetadataStore).parameters["container"].default
    assert container_default == main.resolve("cosmosContainerName")
    cosmos = main.section("modules")["cosmos"]["config"]["params"]
    container = cosmos["sqlDatabases"][0]["containers"][0]
    assert container["paths"] == [cosmos_metadata._PARTITION_PATH]
    assert "EnableServerless" in cosmos["capabilitiesToAdd"]
