package ceiling;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.MessageProperties;
import java.util.concurrent.ConcurrentNavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;

// Moves every message of queue args[1] to queue args[2] on the broker at 127.0.0.1:args[0],
// as micro-integration's rabbit -> rabbit workflow does: prefetch 255, persistent publishes
// with publisher confirms, and each input message acknowledged only once its copy is
// confirmed. The broker's ceiling for that work: nothing else runs in between.
public final class Ceiling {
  public static void main(String[] args) throws Exception {
    ConnectionFactory factory = new ConnectionFactory();
    factory.setHost("127.0.0.1");
    factory.setPort(Integer.parseInt(args[0]));
    Connection connection = factory.newConnection();
    Channel in = connection.createChannel();
    Channel out = connection.createChannel();
    out.confirmSelect();
    in.basicQos(255);
    // publish sequence number -> delivery tag of the input message it copies
    ConcurrentNavigableMap<Long, Long> unconfirmed = new ConcurrentSkipListMap<>();
    out.addConfirmListener((sequence, multiple) -> {
      ConcurrentNavigableMap<Long, Long> done = multiple ? unconfirmed.headMap(sequence, true)
                                                         : unconfirmed.subMap(sequence, true, sequence, true);
      long highest = -1;
      for (long tag : done.values()) highest = Math.max(highest, tag);
      done.clear();
      if (highest >= 0) {
        synchronized (in) {
          // Published in delivery order: when every copy up to `sequence` is confirmed, one
          // ack covers their inputs; a single confirm covers its own input only.
          in.basicAck(highest, multiple);
        }
      }
    }, (sequence, multiple) -> { throw new IllegalStateException("nacked: " + sequence); });
    in.basicConsume(args[1], false, new DefaultConsumer(in) {
      @Override
      public void handleDelivery(String consumerTag, Envelope envelope, AMQP.BasicProperties properties, byte[] body)
          throws java.io.IOException {
        synchronized (out) {
          unconfirmed.put(out.getNextPublishSeqNo(), envelope.getDeliveryTag());
          out.basicPublish("", args[2], MessageProperties.PERSISTENT_BASIC, body);
        }
      }
    });
    System.out.println("ceiling: moving " + args[1] + " -> " + args[2]);
    Thread.currentThread().join();
  }
}
