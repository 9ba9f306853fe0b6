"""mgqe.server"""
