"""The WSGI entry point gunicorn serves, as in the upstream image."""

from flexmeasures.app import create

application = create()
