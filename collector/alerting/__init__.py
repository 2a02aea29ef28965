"""Alerts pushed by e-mail and webhook, and scheduled reports e-mailed as PDF and XLSX.

calendar    opening hours, holidays, working days, report periods (pure)
rules       what each alert rule measures and the fire/clear state machine (pure)
evaluate    reads the rollups, devices and rejects tables, runs the rules, records alerts
recipients  who receives what (collector.yaml today; any source with the same shape later)
history     acknowledge and comment on alerts
outbox      the durable notification queue: retries with backoff, never sends twice after success
mailer, webhook  the two delivery channels
reports     a scheduled report round; pdf renders a report without a browser
scheduler   the thread inside ``collector serve`` that runs all of the above on time
"""
