"""fedora-messaging callback for the test: records each message as the consumer received it
(its class and what the class says about it), stops after EXPECTED of them."""

import json
import os

from fedora_messaging.exceptions import HaltConsumer


class Collector:
    def __init__(self):
        self.count = 0

    def __call__(self, message):
        record = {
            "topic": message.topic,
            "id": message.id,
            "body": message.body,
            "class": type(message).__name__,
            "summary": message.summary,
            "text": str(message),
            "agent_name": message.agent_name,
            "usernames": message.usernames,
            "packages": message.packages,
            "headers": message._headers,
            "filter_headers": message._filter_headers(),
        }
        with open(os.environ["COLLECT_FILE"], "a") as f:
            f.write(json.dumps(record) + "\n")
        self.count += 1
        if self.count >= int(os.environ["EXPECTED"]):
            raise HaltConsumer(exit_code=0)
