import com.rabbitmq.client.*;
import java.util.*;
import java.util.concurrent.*;
import java.nio.charset.StandardCharsets;

// A probe of `npm run differential`: RabbitMQ's Java client (Debian librabbitmq-client-java) through
// what its users do, one {"check", "value"} JSON line per check, compared between Warren and
// RabbitMQ. The automatic-recovery check needs the broker's management API (PROBE_MGMT_PORT): the
// server closes the connection there, and the client must recover it and its consumer.
public class JavaClientProbe {
  static List<String> out = Collections.synchronizedList(new ArrayList<>());
  static void o(String check, Object... xs) { out.add("{\"check\":\"" + check + "\",\"value\":" + json(Arrays.asList(xs)) + "}"); }
  static String json(Object v) {
    if (v == null) return "null";
    if (v instanceof Boolean || v instanceof Number) return v.toString();
    if (v instanceof Collection) { StringJoiner j = new StringJoiner(",", "[", "]"); for (Object x : (Collection<?>) v) j.add(json(x)); return j.toString(); }
    return "\"" + v.toString().replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
  public static void main(String[] a) throws Exception {
    int port = Integer.parseInt(System.getenv("PROBE_PORT"));
    String mgmt = System.getenv("PROBE_MGMT_PORT");
    ConnectionFactory f = new ConnectionFactory();
    f.setHost("127.0.0.1"); f.setPort(port);
    f.setAutomaticRecoveryEnabled(true); f.setNetworkRecoveryInterval(500);
    Connection c = f.newConnection("java-cmp");
    o("product", String.valueOf(c.getServerProperties().get("product")));
    Channel ch = c.createChannel();
    // alternate exchange
    Map<String,Object> ae = new HashMap<>(); ae.put("alternate-exchange", "j.ae");
    ch.exchangeDeclare("j.ae", "fanout", false, true, null);
    ch.exchangeDeclare("j.main", "direct", false, true, ae);
    String aq = ch.queueDeclare().getQueue();
    ch.queueBind(aq, "j.ae", "");
    ch.basicPublish("j.main", "unrouted", null, "to-ae".getBytes());
    Thread.sleep(100);
    GetResponse g = ch.basicGet(aq, true);
    o("alternate", g == null ? null : new String(g.getBody()), g == null ? null : g.getEnvelope().getExchange(), g == null ? null : g.getEnvelope().getRoutingKey());
    // confirms + nack via max-length reject-publish
    Map<String,Object> ml = new HashMap<>(); ml.put("x-max-length", 1); ml.put("x-overflow", "reject-publish");
    ch.queueDeclare("j.ml", false, false, true, ml);
    ch.confirmSelect();
    // Each publish's outcome, a multiple ack or nack spread over the tags it covers: RabbitMQ
    // folds the two nacks into one multiple=true nack or not, as its timing falls.
    Map<Long,String> cf = Collections.synchronizedMap(new TreeMap<>());
    ch.addConfirmListener((tag, multiple) -> settle(cf, tag, multiple, "ack"), (tag, multiple) -> settle(cf, tag, multiple, "nack"));
    for (int i = 0; i < 3; i++) ch.basicPublish("", "j.ml", null, ("m" + i).getBytes());
    ch.waitForConfirms(5000);
    Thread.sleep(100);
    o("confirms", new ArrayList<>(cf.values()));
    // RPC over direct reply-to
    Channel srv = c.createChannel();
    srv.queueDeclare("j.rpc", false, false, true, null);
    srv.basicConsume("j.rpc", true, new DefaultConsumer(srv) {
      public void handleDelivery(String t, Envelope e, AMQP.BasicProperties p, byte[] b) throws java.io.IOException {
        srv.basicPublish("", p.getReplyTo(), new AMQP.BasicProperties.Builder().correlationId(p.getCorrelationId()).build(), ("re:" + new String(b)).getBytes());
      }
    });
    Channel cli = c.createChannel();
    BlockingQueue<String> replies = new ArrayBlockingQueue<>(1);
    cli.basicConsume("amq.rabbitmq.reply-to", true, new DefaultConsumer(cli) {
      public void handleDelivery(String t, Envelope e, AMQP.BasicProperties p, byte[] b) { replies.offer(p.getCorrelationId() + "/" + new String(b)); }
    });
    cli.basicPublish("", "j.rpc", new AMQP.BasicProperties.Builder().replyTo("amq.rabbitmq.reply-to").correlationId("c7").build(), "ping".getBytes());
    o("rpc", replies.poll(5, TimeUnit.SECONDS));
    // consumer cancel notification
    Channel cc = c.createChannel();
    cc.queueDeclare("j.cancel", false, false, false, null);
    CountDownLatch cancelled = new CountDownLatch(1);
    cc.basicConsume("j.cancel", true, "ctag-1", new DefaultConsumer(cc) {
      public void handleCancel(String tag) { o("handleCancel", tag); cancelled.countDown(); }
    });
    Channel del = c.createChannel();
    del.queueDelete("j.cancel");
    o("cancel-notified", cancelled.await(3, TimeUnit.SECONDS));
    // basic.recover requeue
    Channel rc = c.createChannel();
    String rq = rc.queueDeclare().getQueue();
    rc.basicPublish("", rq, null, "r1".getBytes());
    Thread.sleep(100);
    GetResponse r1 = rc.basicGet(rq, false);
    rc.basicRecover(true);
    Thread.sleep(100);
    GetResponse r2 = rc.basicGet(rq, false);
    o("recover", r2 == null ? null : new String(r2.getBody()), r2 == null ? null : r2.getEnvelope().isRedeliver());
    // errors
    try { Channel e1 = c.createChannel(); e1.exchangeDeclarePassive("j.none"); o("passive-exchange", "no error"); } catch (Exception e) { o("passive-exchange", rootMsg(e)); }
    try { Channel e2 = c.createChannel(); e2.exchangeDeclare("amq.j", "direct"); o("amq-prefix", "no error"); } catch (Exception e) { o("amq-prefix", rootMsg(e)); }
    try { Channel e3 = c.createChannel(); e3.queueDeclare("amq.q", false, false, false, null); o("amq-queue", "no error"); } catch (Exception e) { o("amq-queue", rootMsg(e)); }
    if (mgmt != null) {
      // automatic recovery: the server closes the connection (management API), the consumer carries on
      Channel rec = c.createChannel();
      rec.queueDeclare("j.rec", false, false, false, null);
      BlockingQueue<String> recv = new LinkedBlockingQueue<>();
      rec.basicConsume("j.rec", true, new DefaultConsumer(rec) {
        public void handleDelivery(String t, Envelope e, AMQP.BasicProperties p, byte[] b) { recv.offer(new String(b)); }
      });
      CountDownLatch recovered = new CountDownLatch(1);
      ((Recoverable) c).addRecoveryListener(new RecoveryListener() {
        public void handleRecovery(Recoverable r) { recovered.countDown(); }
        public void handleRecoveryStarted(Recoverable r) {}
      });
      List<String> shutdown = Collections.synchronizedList(new ArrayList<>());
      c.addShutdownListener(cause -> shutdown.add(String.valueOf(cause.getReason())));
      Thread.sleep(6000); // the management API lists connections it has sampled
      String name = closeViaApi(Integer.parseInt(mgmt));
      o("closed-via-api", name != null);
      o("recovered", recovered.await(15, TimeUnit.SECONDS));
      o("shutdown-reason", shutdown.isEmpty() ? null : shutdown.get(0).replaceAll("[0-9a-f-]{36}|:\\d+ ->|->", "").replaceAll("\\s+", " "));
      Channel p2 = c.createChannel();
      p2.basicPublish("", "j.rec", null, "after-recovery".getBytes());
      o("after-recovery", recv.poll(5, TimeUnit.SECONDS));
      p2.queueDelete("j.rec");
    }
    c.close();
    for (String s : out) System.out.println(s);
  }
  /** Records tag's outcome (with multiple, every earlier tag not settled yet too) as "tag:outcome". */
  static void settle(Map<Long,String> outcomes, long tag, boolean multiple, String outcome) {
    for (long t = multiple ? 1 : tag; t <= tag; t++) outcomes.putIfAbsent(t, t + ":" + outcome);
  }
  static String rootMsg(Throwable e) {
    while (e.getCause() != null) e = e.getCause();
    String m = e.getMessage();
    int i = m.indexOf("reply-text=");
    return i >= 0 ? m.substring(i, Math.min(m.length(), i + 120)) : m;
  }
  static String closeViaApi(int mport) throws Exception {
    java.net.http.HttpClient h = java.net.http.HttpClient.newHttpClient();
    String auth = "Basic " + Base64.getEncoder().encodeToString("guest:guest".getBytes());
    String body = h.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + mport + "/api/connections")).header("Authorization", auth).build(), java.net.http.HttpResponse.BodyHandlers.ofString()).body();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"name\":\"([^\"]+)\"").matcher(body);
    String name = null;
    while (m.find()) { name = m.group(1); }
    if (name == null) return null;
    String enc = java.net.URLEncoder.encode(name, StandardCharsets.UTF_8).replace("+", "%20");
    h.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + mport + "/api/connections/" + enc)).header("Authorization", auth).header("X-Reason", "test close").DELETE().build(), java.net.http.HttpResponse.BodyHandlers.ofString());
    return name;
  }
}
