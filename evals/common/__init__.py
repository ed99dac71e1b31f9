"""What every eval suite shares, so that no suite imports another; suites import this and the product only.

- company, scene, datasets, state, plant: the demo company at any size, the cast of a run, its state, planted text
- web, sse, served, scripted_load: the web service in-process or served, its event stream, the load's model
- tables, results: figures as tables (Rich and markdown) and the one pair of result files a run writes
- measures, postgres: timed core commands, the local PostgreSQL server and pgbench
- audit_check, fake_provider, fake_slack, private_pg: the after-run audit and the fakes several suites drive
"""
