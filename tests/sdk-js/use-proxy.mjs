// Node's built-in fetch (under the Graph clients) ignores HTTPS_PROXY before Node 24;
// this preload routes it through the proxy the environment names, honouring NO_PROXY:
//
//   node --import ./use-proxy.mjs app.mjs
//
// @azure/identity needs nothing: its HTTP pipeline reads the proxy variables itself.
import { EnvHttpProxyAgent, setGlobalDispatcher } from "undici";

setGlobalDispatcher(new EnvHttpProxyAgent());
