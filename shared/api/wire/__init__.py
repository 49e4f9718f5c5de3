"""Custom Vision's JSON shapes (camelCase, exactly as on the wire) and the converters that fill them.

Input models (``...In``) parse request bodies; output models mirror the SDK's models (see the
compatibility SPEC §3). Stored entities never reach the wire: the ``*_out`` functions translate.
Nothing is re-exported here: import each shape from its resource's module.

- ``base``: the ``Wire`` base model, ``UriFor``, and the box and prediction shapes several resources share.
- ``domains``: domains and their model information.
- ``projects``: projects, their settings and the create options.
- ``tags``: tags with their image counts.
- ``images``: images, upload batches (files, URLs, predictions) and their create summaries.
- ``labels``: an image's tags and regions, their create batches and summaries, metadata updates.
- ``iterations``: iterations, training parameters and training progress.
- ``performance``: iteration performance (per tag) and image performance (predictions per image).
- ``exports``: an iteration's exports.
- ``predictions``: Prediction API results, stored predictions and their query token.
- ``suggestions``: Smart Labeler suggestions, their query token, and region proposals.
"""
