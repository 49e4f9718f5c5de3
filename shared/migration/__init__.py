"""`cvstudio migrate`: copying projects from any Custom Vision endpoint (Azure's or another cvstudio) to another,
through the public Training API only (``shared.client.http``).

    source.py    reading an endpoint: domains, projects, tags, image pages (tagged and untagged), image bytes
    target.py    writing an endpoint: projects, tags, image batches, labels, metadata, training
    state.py     the state file: which source image became which target image (what makes a re-run cheap)
    batches.py   a page of images -> upload batches (one metadata per batch, Custom Vision's batch sizes)
    copier.py    one project at a time: settings, tags, images (parallel downloads, batched uploads), training
    progress.py  the progress line on stderr and the final summary
    command.py   the `migrate` subcommand's arguments, output and exit codes
"""
