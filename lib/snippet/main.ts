import { io } from "socket.io-client";
(globalThis as any).x = io;
