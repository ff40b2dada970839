package peer;

import java.util.function.Function;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;
import org.springframework.messaging.Message;

// The JVM peer of scripts/bench-peers.sh: a Spring Cloud Stream function that hands each
// message on as it came (bindings move-in-0 -> move-out-0, application.properties).
@SpringBootApplication
public class Peer {
  public static void main(String[] args) { SpringApplication.run(Peer.class, args); }

  @Bean
  public Function<Message<byte[]>, Message<byte[]>> move() { return message -> message; }
}
