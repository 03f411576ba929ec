"""The web UI's server: ``overture ui`` locally, the chart's ``ui.enabled`` Deployment in a cluster.

A Starlette app that serves the single-page app built from ``ui/`` (its assets ship in
``overture/ui/static``) and a JSON API under ``/api`` that acts on the Kubernetes API server
with the caller's own credentials, never with a privileged ServiceAccount of its own:

- ``auth``: who is calling (a bearer token checked by the API server itself, the local session
  token of ``overture ui``, or, opt-in, a user named by an authenticating proxy and impersonated);
- ``kubeapi``: one ``UserApi`` per caller: raw JSON requests, watches and log streams;
- ``views``: pure functions from Kubernetes objects to what the pages show;
- ``routes``: the ``/api`` endpoints; ``streams``: the live ones (Server-Sent Events);
- ``logs``: where a task attempt's log comes from (the pod, then the artifact store's archive);
- ``store``: what the UI reads from the artifact store; ``files``: the previews of task files;
- ``app``: the ASGI application, its security headers and the static files.
"""
