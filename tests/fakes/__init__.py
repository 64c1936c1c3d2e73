"""Hand-written fakes of the service's upstreams: the real clients talk to them over loopback."""
