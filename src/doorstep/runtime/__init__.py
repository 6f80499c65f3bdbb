"""The machinery that runs beside the requests of ``doorstep serve`` (and ``doorstep worker``):
background loops, each started and stopped through :mod:`.threads` — the dispatcher
(:mod:`.dispatch_loop`), the scheduled runs (:mod:`.run_loop`, slots and leases in
:mod:`.run_scheduler`) and the scheduled monitor (:mod:`.monitor_loop`, slots and leases in
:mod:`.monitor_scheduler`, its runs in a child process at a lower priority:
:mod:`.monitor_process`). It calls the services and knows nothing of HTTP."""
