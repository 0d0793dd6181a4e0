"""``python -m erp5_kernel -f CONNECTION_FILE``: what the ``erp5`` kernelspec runs."""

from ipykernel.kernelapp import IPKernelApp

from .kernel import Erp5Kernel

if __name__ == "__main__":
    IPKernelApp.launch_instance(kernel_class=Erp5Kernel)
