"""Running the work the API queues: read a message, dispatch it, launch the job, watch its end.

dispatch.py       a queue message -> the handler for its type (an unknown type is an error)
launcher.py       the JobLauncher port: "run this training job somewhere"
child_process.py  the local launcher: ``cvstudio train-iteration`` as a child process (+ heartbeat)
container_apps.py the Azure launcher: one execution of the Container Apps training job per iteration
training_jobs.py  the handler of TrainIteration: attempts, launch, a dead trainer -> Failed
worker.py         the local worker loop of ``cvstudio serve`` (Azure: a queue trigger instead)
drop_watcher.py   the local drop folder's poller (Azure: a blob trigger instead)
"""
