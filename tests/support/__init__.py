"""What the tests share: paths, waiting, API calls, bus message bodies, the running stack, and the
services' consumers in process on the in-memory log and store."""
