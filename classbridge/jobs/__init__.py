"""The outbound side: the push to aggregators (arq jobs, the embedded runner, the client)."""
