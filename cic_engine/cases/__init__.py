"""Cases: complaints, requests and claims tracked from the contact center through a
department to resolution, with SLA timers and the customer kept informed."""
