"""The greet actor of docs/actors.md: `yard call greet '{"name": "Ada"}' --op hello`."""

from yard import Actor

app = Actor("greet", replicas=2)


@app.op("hello")
def hello(req):
    """Greets body.name."""
    return {"text": f"hello {req.body['name']}"}


app.run()
