"""fedora-messaging callback for the test: records messages, stops after EXPECTED of them."""

import json
import os

from fedora_messaging.exceptions import HaltConsumer


class Collector:
    def __init__(self):
        self.count = 0

    def __call__(self, message):
        with open(os.environ["COLLECT_FILE"], "a") as f:
            f.write(json.dumps({"topic": message.topic, "id": message.id, "body": message.body}) + "\n")
        self.count += 1
        if self.count >= int(os.environ["EXPECTED"]):
            raise HaltConsumer(exit_code=0)
