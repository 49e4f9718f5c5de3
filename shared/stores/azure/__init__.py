"""The Azure adapters of the store ports, each translating its SDK's exceptions at its boundary.

* :mod:`shared.stores.azure.connections`: builds the Storage service clients from a connection string or, with
  a managed identity, from the service URIs (the one place that knows how the product signs in).
* :mod:`shared.stores.azure.blob_store`: :class:`~shared.stores.ports.BlobStore` on Blob Storage.
* :mod:`shared.stores.azure.storage_queue`: :class:`~shared.stores.queue.WorkQueue` on Storage Queues.
* :mod:`shared.stores.azure.cosmos_metadata`: :class:`~shared.stores.ports.MetadataStore` on Cosmos DB.
"""
