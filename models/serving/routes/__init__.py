"""The service's routes, one router per resource, included by models/serving/app.py in this order: health
(/healthz, /readyz), model (/v1/model), scoring (/v1/score), contacts (/v1/contacts: completed contacts
learned), routing (/v1/route), admin (/v1/admin/reload) and metrics (/metrics). Each module builds its
router for one app's `Service` (models/serving/service.py): the request bodies are that app's."""
