"""Typed, versioned documents that one process writes and another reads.

The API writes a snapshot and a training job; the trainer (a child process here, a Container
Apps job in Azure) reads them and writes the model manifest and the held-out evaluation, which
the prediction and training APIs read back. Each document is one dataclass whose ``to_json`` and
``from_json`` are the only code that writes and reads it, and carries a format ``version``: a
reader meeting a newer version than it knows refuses it clearly (:class:`ContractVersionError`)
instead of misreading it (:mod:`shared.domain.versioning`).

    jobs.py          queue messages (``TrainIteration``); an unknown type is an error
    snapshot.py      what an iteration trains on (images, tags, labels)
    manifest.py      model.json: what the prediction path needs beside the ONNX file
    evaluation.py    evaluation.json: the held-out predictions behind the iteration's metrics
    drop_result.py   <file>.result.json: what became of a file dropped into the drop folder
"""
