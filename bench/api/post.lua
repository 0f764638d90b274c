-- wrk script: POST a small tag compose request.
wrk.method = "POST"
wrk.body = '{"source": {"type": "tag", "source": "f40-build", "packages": ["ed"]}, "arches": ["x86_64"]}'
wrk.headers["Content-Type"] = "application/json"
