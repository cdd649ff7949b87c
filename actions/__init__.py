"""Custom actions for the Rasa assistant (rasa_sdk, Rasa environment, Python 3.10).

Actions hold no database: they are thin HTTP clients of the scheduling & content API.
"""

from actions import serving

# rasa_sdk imports this package before it asks its plugins to extend the server (actions/serving.py).
serving.install()
