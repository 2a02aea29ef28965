"""The thank-you screen's one-time QR: a citizen says more on their phone, tied to the rating it follows.

tokens.py   the token a kiosk makes per rating, its hash on the wire, the link the QR carries
answers.py  the answers' storage: accept (pending or joined), join when the rating arrives, expire, purge
form.py     the public form: a Starlette app of its own, served apart from the dashboard
"""
