"""The outbound side: delivery jobs (email, pushes to aggregators). Never imports graph/."""
