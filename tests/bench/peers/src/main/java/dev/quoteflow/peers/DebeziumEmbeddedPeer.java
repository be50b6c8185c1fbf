// The embedded-engine way of running the Debezium peer (quoteflow-bench debezium): Debezium's
// Postgres connector and its Outbox Event Router run inside this process (debezium-embedded), and
// every routed record is forwarded to Kafka through one KafkaProducer with enable.idempotence=true
// and acks=all. A batch's offsets are committed only after the producer flushed the batch, so a
// restart re-sends rather than loses (at-least-once, like the relay).
//
//   java -cp peers.jar:libs/* dev.quoteflow.peers.DebeziumEmbeddedPeer <engine.properties>
//
// engine.properties holds the engine's and connector's settings; keys starting with "producer."
// go (without the prefix) to the KafkaProducer. Logs key=value lines on stderr; stops cleanly on
// SIGTERM (exit 0).
package dev.quoteflow.peers;

import io.debezium.embedded.Connect;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.RecordChangeEvent;
import io.debezium.engine.format.ChangeEventFormat;
import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.source.SourceRecord;

public final class DebeziumEmbeddedPeer {
  private DebeziumEmbeddedPeer() {}

  private static byte[] bytes(Object o) {
    if (o == null) return null;
    if (o instanceof byte[]) return (byte[]) o;
    return o.toString().getBytes(StandardCharsets.UTF_8);
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: DebeziumEmbeddedPeer <engine.properties>");
      System.exit(2);
    }
    Properties all = new Properties();
    try (InputStream in = new FileInputStream(args[0])) {
      all.load(in);
    }
    Properties engineProps = new Properties();
    Properties producerProps = new Properties();
    for (String k : all.stringPropertyNames()) {
      if (k.startsWith("producer.")) {
        producerProps.put(k.substring("producer.".length()), all.getProperty(k));
      } else {
        engineProps.put(k, all.getProperty(k));
      }
    }
    // The delivery guarantees this peer is measured with; not overridable by the file.
    producerProps.put("enable.idempotence", "true");
    producerProps.put("acks", "all");
    producerProps.put("key.serializer", ByteArraySerializer.class.getName());
    producerProps.put("value.serializer", ByteArraySerializer.class.getName());

    AtomicLong forwarded = new AtomicLong();
    CountDownLatch done = new CountDownLatch(1);
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps)) {
      DebeziumEngine.ChangeConsumer<RecordChangeEvent<SourceRecord>> forward =
          (List<RecordChangeEvent<SourceRecord>> batch,
              DebeziumEngine.RecordCommitter<RecordChangeEvent<SourceRecord>> committer) -> {
            List<Future<RecordMetadata>> sends = new ArrayList<>(batch.size());
            for (RecordChangeEvent<SourceRecord> e : batch) {
              SourceRecord r = e.record();
              if (r.value() != null) {
                RecordHeaders headers = new RecordHeaders();
                for (Header h : r.headers()) headers.add(h.key(), bytes(h.value()));
                sends.add(producer.send(new ProducerRecord<>(r.topic(), null, null,
                    bytes(r.key()), bytes(r.value()), headers)));
              }
            }
            // flush() waits for every send of the batch but does not report a failed one: get()
            // does (it throws, the engine stops and the batch is not committed). Only then are the
            // batch's offsets committed.
            producer.flush();
            try {
              for (Future<RecordMetadata> f : sends) f.get();
            } catch (ExecutionException ex) {
              throw new RuntimeException("send failed: " + ex.getCause(), ex.getCause());
            }
            for (RecordChangeEvent<SourceRecord> e : batch) committer.markProcessed(e);
            committer.markBatchFinished();
            forwarded.addAndGet(batch.size());
          };
      DebeziumEngine<RecordChangeEvent<SourceRecord>> engine =
          DebeziumEngine.create(ChangeEventFormat.of(Connect.class))
              .using(engineProps)
              .notifying(forward)
              .using((success, message, error) -> {
                System.err.println("debezium_embedded event=engine_stopped success=" + success
                    + " message=\"" + message + "\"");
                if (error != null) error.printStackTrace();
                done.countDown();
              })
              .build();
      ExecutorService executor = Executors.newSingleThreadExecutor();
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        try {
          engine.close();
          done.await(20, TimeUnit.SECONDS);
        } catch (Exception ex) {
          ex.printStackTrace();
        }
        System.err.println("debezium_embedded event=stopped forwarded=" + forwarded.get());
      }));
      System.err.println("debezium_embedded event=starting");
      executor.execute(engine);
      done.await();
      executor.shutdown();
    }
  }
}
