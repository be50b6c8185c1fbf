// Reads a topic from the beginning with kafkajs (an independent Kafka client, installed by
// scripts/install-deps.sh) and prints one JSON line per record: {topic, partition, key, value,
// headers}. Exits 0 after `count` records, 1 on an error or after 60 s.
//   node kafkajs_read.js BROKERS TOPIC COUNT [SASL_USER PASSWORD_FILE CA_FILE]
// With a SASL user: SASL_SSL with PLAIN (the password is read from a file, never from argv), the
// broker's certificate checked against CA_FILE.
'use strict';
const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');

const [, , brokers, topic, count, user, passwordFile, caFile] = process.argv;
const kafka = new Kafka({
  clientId: 'quoteflow-kafkajs-reader',
  brokers: brokers.split(','),
  logLevel: logLevel.ERROR,
  ssl: user ? { ca: [fs.readFileSync(caFile, 'utf8')] } : false,
  sasl: user ? {
    mechanism: 'plain',
    username: user,
    password: fs.readFileSync(passwordFile, 'utf8').trim(),
  } : undefined,
});

setTimeout(() => {
  console.error(`kafkajs_read: fewer than ${count} records on ${topic} after 60 s`);
  process.exit(1);
}, 60000);

(async () => {
  const consumer = kafka.consumer({ groupId: `kafkajs-reader-${process.pid}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const headers = {};
      for (const [name, value] of Object.entries(message.headers || {})) {
        headers[name] = value.toString();
      }
      process.stdout.write(JSON.stringify({
        topic, partition,
        key: message.key === null ? null : message.key.toString(),
        value: message.value.toString(),
        headers,
      }) + '\n');
      // Exit from here: disconnecting inside eachMessage would wait for eachMessage itself.
      if (++seen >= Number(count)) process.exit(0);
    },
  });
})().catch((error) => {
  console.error(`kafkajs_read: ${error}`);
  process.exit(1);
});
