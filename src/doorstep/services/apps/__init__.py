"""Apps: a spec loaded with its model and reference data and checked against both
(:mod:`.loading`), checked with its connectors too as ``doorstep validate`` does
(:mod:`.checks`), the apps a server hosts (:mod:`.registry`), and the example apps that
``doorstep init --example`` writes (:mod:`.examples`)."""
