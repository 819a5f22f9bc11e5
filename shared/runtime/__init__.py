"""The runtime every service shares: the event log and its read models, the relay, the consumer runtime
(processor, worker, dead letters, Lambda adapter), telemetry, configuration, AWS clients, the object store,
the topology and what arrives from outside the log (S3 notifications, saga commands).

The contracts other teams install are ``shared.events``; nothing there imports from here."""
