"""The outbound side: email delivery and the push to aggregators (arq jobs, the embedded
runner, the signed client). Never imports graph/."""
