"""What the tests share: paths, waiting, API calls, bus message bodies, the running stack."""
