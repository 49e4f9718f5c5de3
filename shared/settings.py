"""The one configuration object. Nothing else in the product reads ``os.environ``.

Every setting comes from a ``CVSTUDIO_*`` environment variable (or the command line, which sets
the same fields). With nothing set, the product runs on the embedded default: everything under
``data_dir``. With both a storage account (``CVSTUDIO_STORAGE``, or its two service URIs for
managed identity) and a Cosmos DB account (``CVSTUDIO_COSMOS_ENDPOINT``) set, every role runs on
Azure; half of that is refused at start with one line that says what is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.domain.limits import (
    DEFAULT_DECODE_MEMORY_BYTES,
    DEFAULT_MAX_FILE_BATCH_BODY_BYTES,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_JSON_BODY_BYTES,
    DEFAULT_URL_DOWNLOAD_THREADS,
)

__all__ = ["InvalidSettings", "Settings", "load_settings"]

_PLACEHOLDERS = {"changethis", "changeme", "your-key", "<key>"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CVSTUDIO_", extra="ignore", frozen=True, populate_by_name=True)

    data_dir: Path = Path(".data")
    # Keys: when unset, random keys are made once and kept in data_dir/keys.json.
    training_key: str | None = None
    prediction_key: str | None = None
    # A second key per role (Custom Vision's Key2), accepted as well: rotate one while clients use the other.
    training_key_2: str | None = None
    prediction_key_2: str | None = None
    # The server `cvstudio export` and `cvstudio import` call (its key: training_key), e.g. http://127.0.0.1:8080.
    endpoint: str | None = None
    # The absolute base URL that image URIs are built on; by default the request's own host.
    public_base_url: str | None = None
    # Let URL uploads reach loopback and private networks (local testing only).
    allow_private_urls: bool = False
    # An upper limit on Advanced training's wall time, below the reserved budget (None: the budget).
    advanced_training_cap_seconds: float | None = None
    # Which roles this process serves: "all", "training" or "prediction".
    role: str = "all"
    # Web apps on other origins that may call the APIs from a browser (CORS): comma-separated origins
    # ("https://app.example.com,http://localhost:3000"), or "*" for any. None: same origin only.
    cors_origins: str | None = None
    # Host names (host or host:port, comma-separated; ".example.com" for its subdomains; "*" for any) that
    # requests may name besides loopback and the address `cvstudio serve --host` binds; image links are built
    # on the request's host only when it is one of these. Unchecked when public_base_url is set and this is not.
    allowed_hosts: str | None = None
    # The address `cvstudio serve --host` binds (set by the command): an allowed host unless a wildcard.
    serve_host: str | None = None
    # Per-key request limits, as Custom Vision's tiers have (S0: 10 a second): requests a second one key may
    # make to the Training / Prediction API on this instance, beyond a burst; 0: no limit. Over it: 429.
    training_rate_limit: float = Field(0.0, ge=0, allow_inf_nan=False)
    prediction_rate_limit: float = Field(0.0, ge=0, allow_inf_nan=False)
    # Requests one key may make at once before its rate applies; 0: one second's worth.
    training_rate_burst: int = Field(0, ge=0)
    prediction_rate_burst: int = Field(0, ge=0)

    # Azure Storage (blobs and queues): a connection string (Azurite: "UseDevelopmentStorage=true"),
    # or, with a managed identity, the service URIs below: the Functions identity-connection
    # convention, so that the blob and queue triggers' connection="CVSTUDIO_STORAGE" reads the same.
    storage: str | None = None
    storage_blob_service_uri: str | None = Field(
        None, validation_alias=AliasChoices("CVSTUDIO_STORAGE__blobServiceUri", "storage_blob_service_uri")
    )
    storage_queue_service_uri: str | None = Field(
        None, validation_alias=AliasChoices("CVSTUDIO_STORAGE__queueServiceUri", "storage_queue_service_uri")
    )
    # Azure Cosmos DB (SQL API); without a key, the process's Azure identity (DefaultAzureCredential).
    cosmos_endpoint: str | None = None
    cosmos_key: str | None = None
    cosmos_database: str = "cvstudio"
    # Names in the storage account: blob containers are "<prefix>images", "<prefix>models", ...; the
    # training queue is read by the queue trigger (queue_name="%CVSTUDIO_TRAINING_QUEUE%").
    storage_container_prefix: str = "cvstudio-"
    training_queue: str = "cvstudio-training"
    # The drop folder on Azure: the blob container whose files the blob trigger ingests
    # (path="%CVSTUDIO_DROP_CONTAINER%/{name}"); on the embedded default, ``drop_dir``.
    drop_container: str = "cvstudio-drop"
    # Who runs queued training: "local" (this server's worker, in child processes: the embedded
    # default, and the whole Azure flow on one machine) or "container-apps" (an execution of the
    # Container Apps job ``training_job_id`` per iteration). Default: Container Apps when a job is set.
    training_runner: str | None = None
    # The Container Apps job's resource id (/subscriptions/.../providers/Microsoft.App/jobs/<name>).
    training_job_id: str | None = None
    # Azure Resource Manager's endpoint (another cloud, or a fake one in tests).
    arm_endpoint: str = "https://management.azure.com"
    # A training whose progress has not moved for this long is ended Failed (its job died).
    training_stall_seconds: float = 900.0
    # Image bytes no record points at (an upload killed between its bytes and its record) are removed
    # once this old (seconds): younger ones may be an upload about to write its record.
    unrecorded_bytes_grace_seconds: float = Field(3600.0, ge=0, allow_inf_nan=False)

    # Bounded resources (defaults in shared.domain.limits). Decoded pixels in flight, all requests
    # together (MB): a decode that does not fit waits its turn.
    decode_memory_mb: int = Field(DEFAULT_DECODE_MEMORY_BYTES // 2**20, ge=64)
    # The largest JSON body (bytes), and CreateImagesFromFiles' (base64 images): larger is a 413.
    max_json_body_bytes: int = Field(DEFAULT_MAX_JSON_BODY_BYTES, ge=1024)
    max_file_batch_body_bytes: int = Field(DEFAULT_MAX_FILE_BATCH_BODY_BYTES, ge=1024)
    # Request headers together (bytes): larger is a 431 (a 400 when the server cannot even complete them).
    max_header_bytes: int = Field(DEFAULT_MAX_HEADER_BYTES, ge=1024)
    # URL downloads at once (URL uploads, predictions and Quick Test from URLs), on threads of their own.
    url_download_threads: int = Field(DEFAULT_URL_DOWNLOAD_THREADS, ge=1, le=256)

    @property
    def on_azure(self) -> bool:
        """Whether the stores are Azure's (else the embedded default under ``data_dir``)."""
        return self.cosmos_endpoint is not None

    @property
    def runner(self) -> str:
        """``local`` or ``container-apps``: see ``training_runner``."""
        if self.training_runner is not None:
            return self.training_runner
        return "container-apps" if self.training_job_id else "local"

    @property
    def drop_dir(self) -> Path:
        """The local drop folder that ``cvstudio serve`` watches on the embedded default."""
        return self.data_dir / "drop"

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        return tuple(o.strip().rstrip("/") for o in (self.cors_origins or "").split(",") if o.strip())

    @property
    def allowed_host_list(self) -> tuple[str, ...]:
        """The Host values requests may name (see ``allowed_hosts``), lowercase, loopback first."""
        hosts = ["localhost", "127.0.0.1", "[::1]"]
        if self.serve_host and self.serve_host not in ("0.0.0.0", "::"):
            host = self.serve_host.lower()
            hosts.append(f"[{host}]" if ":" in host and not host.startswith("[") else host)
        if self.public_base_url:
            hosts.append(urlsplit(self.public_base_url).netloc.lower())
        hosts.extend(h.strip().lower().rstrip(".") for h in (self.allowed_hosts or "").split(",") if h.strip())
        return tuple(hosts)

    @property
    def checks_hosts(self) -> bool:
        """Whether a request's Host must be allowed: links are built on it unless a public base URL is set."""
        return self.public_base_url is None or self.allowed_hosts is not None

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_not_urls(cls, value: str | None) -> str | None:
        for host in (h.strip() for h in (value or "").split(",") if h.strip()):
            if "/" in host or "@" in host or " " in host:
                raise ValueError(f"CVSTUDIO_ALLOWED_HOSTS: {host!r} is not a host name like app.example.com[:8080]")
        return value.strip() or None if value is not None else None

    @field_validator("cors_origins")
    @classmethod
    def _origins_not_urls(cls, value: str | None) -> str | None:
        for origin in (o.strip().rstrip("/") for o in (value or "").split(",") if o.strip()):
            scheme, _, rest = origin.partition("://")
            if origin != "*" and (scheme not in ("http", "https") or not rest or "/" in rest):
                raise ValueError(f"CVSTUDIO_CORS_ORIGINS: {origin!r} is not an origin like https://app.example.com")
        return value.strip() or None if value is not None else None

    @field_validator("training_key", "prediction_key", "training_key_2", "prediction_key_2")
    @classmethod
    def _no_placeholder_keys(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip() or None
        if value is not None and (value.lower() in _PLACEHOLDERS or len(value) < 8):
            raise ValueError("keys must be at least 8 characters and not a placeholder")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ("all", "training", "prediction"):
            raise ValueError("role must be all, training or prediction")
        return value

    @field_validator("training_runner")
    @classmethod
    def _known_runner(cls, value: str | None) -> str | None:
        value = value.strip().lower() or None if value is not None else None
        if value not in (None, "local", "container-apps"):
            raise ValueError("CVSTUDIO_TRAINING_RUNNER must be local or container-apps")
        return value

    @field_validator(
        "storage",
        "storage_blob_service_uri",
        "storage_queue_service_uri",
        "cosmos_endpoint",
        "cosmos_key",
        "training_job_id",
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _keys_apart(self) -> Settings:
        for role in ("training", "prediction"):
            if getattr(self, f"{role}_key_2") and not getattr(self, f"{role}_key"):
                raise ValueError(f"CVSTUDIO_{role.upper()}_KEY_2 is set without CVSTUDIO_{role.upper()}_KEY: set both.")
        training = {self.training_key, self.training_key_2} - {None}
        if training & {self.prediction_key, self.prediction_key_2}:
            raise ValueError(
                "The training and prediction keys must differ (CVSTUDIO_TRAINING_KEY[_2], "
                "CVSTUDIO_PREDICTION_KEY[_2]), so that a prediction key cannot train."
            )
        return self

    @model_validator(mode="after")
    def _whole_azure_configuration(self) -> Settings:
        uris = (self.storage_blob_service_uri, self.storage_queue_service_uri)
        if self.storage is None and any(uris) and not all(uris):
            raise ValueError(
                "Azure Storage by identity needs both CVSTUDIO_STORAGE__blobServiceUri and "
                "CVSTUDIO_STORAGE__queueServiceUri."
            )
        has_storage = self.storage is not None or all(uris)
        has_cosmos = self.cosmos_endpoint is not None
        if has_storage and not has_cosmos:
            raise ValueError(
                "Azure Storage is set but Cosmos DB is not: set CVSTUDIO_COSMOS_ENDPOINT too, or unset "
                "CVSTUDIO_STORAGE to run on the embedded default."
            )
        if has_cosmos and not has_storage:
            raise ValueError(
                "Cosmos DB is set but Azure Storage is not: set CVSTUDIO_STORAGE (or its __blobServiceUri and "
                "__queueServiceUri), or unset CVSTUDIO_COSMOS_ENDPOINT to run on the embedded default."
            )
        # Every instance on Azure must check the same keys: none can be made up per instance.
        needed = {"all": ("training", "prediction"), "training": ("training",), "prediction": ("prediction",)}
        missing = [k for k in needed[self.role] if getattr(self, f"{k}_key") is None]
        if has_cosmos and missing:
            names = " and ".join(f"CVSTUDIO_{k.upper()}_KEY" for k in missing)
            raise ValueError(f"On Azure every instance must check the same keys: set {names}.")
        if self.runner == "container-apps":
            if not has_cosmos:
                raise ValueError(
                    "Training on Container Apps needs the Azure stores (CVSTUDIO_STORAGE and CVSTUDIO_COSMOS_ENDPOINT)."
                )
            if not self.training_job_id:
                raise ValueError(
                    "CVSTUDIO_TRAINING_RUNNER=container-apps needs CVSTUDIO_TRAINING_JOB_ID (the job's resource id)."
                )
        return self


class InvalidSettings(Exception):
    """The configuration cannot start the product; the message says what to change, in one line."""


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (and ``overrides``), or :class:`InvalidSettings`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        reasons = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()))
            message = str(error.get("msg", "")).removeprefix("Value error, ")
            reasons.append(f"{where}: {message}" if where else message)
        raise InvalidSettings(" ".join(reasons)) from None
